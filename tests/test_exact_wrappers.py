"""Decorated functions with plain signatures get a wrapper with their own parameters (flowcept_core.capture.exact):
it must behave exactly like the generic one, for the caller and in what is recorded."""

from __future__ import annotations

import inspect

import pytest

from flowcept import Flowcept, flowcept_task, lightweight_flowcept_task
from tests._util import tasks, use_settings

DECORATORS = [flowcept_task, lightweight_flowcept_task]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)


def _plain(a, b=2, c=None):
    return {"sum": a + b, "c": c}


def _generic(a, *rest, b=2, c=None):  # keyword-only parameters: the generic wrapper
    return {"sum": a + b, "c": c}


@pytest.mark.parametrize("deco", DECORATORS)
def test_plain_and_generic_wrappers_record_the_same_call(deco):
    plain, generic = deco(_plain), deco(_generic)
    assert plain.__code__.co_varnames[:3] == ("a", "b", "c")  # the exact wrapper
    assert generic.__code__.co_flags & inspect.CO_VARARGS  # the generic one
    with Flowcept(workflow_name="exact") as fc:
        assert plain(1, c="z") == generic(1, c="z") == {"sum": 3, "c": "z"}
        assert plain(a=5, b=1) == {"sum": 6, "c": None}
    first, second, third = tasks(fc.get_buffer())
    assert first["used"] == second["used"] == {"a": 1, "b": 2, "c": "z"}
    assert first["generated"] == second["generated"] == {"sum": 3, "c": "z"}
    assert third["used"] == {"a": 5, "b": 1, "c": None} and third["status"] == "FINISHED"


@pytest.mark.parametrize("deco", DECORATORS)
def test_the_caller_sees_the_functions_own_signature_and_errors(deco):
    wrapped = deco(_plain)
    assert inspect.signature(wrapped) == inspect.signature(_plain)
    assert wrapped.__name__ == "_plain" and wrapped.__wrapped__ is _plain
    with Flowcept(workflow_name="errors"):
        with pytest.raises(TypeError, match=r"_plain\(\) missing 1 required positional argument: 'a'"):
            wrapped()
        with pytest.raises(TypeError, match="unexpected keyword argument 'd'"):
            wrapped(1, d=4)
    with pytest.raises(TypeError, match="multiple values for argument 'a'"):
        wrapped(1, a=2)  # no Flowcept: the same check


@pytest.mark.parametrize("deco", DECORATORS)
def test_defaults_are_the_functions_own_objects_and_methods_bind(deco):
    seen = []

    class Model:
        @deco
        def step(self, x, acc=[]):  # noqa: B006  (the default object's identity is what is checked)
            seen.append(acc)
            return x * 2

    m = Model()
    with Flowcept(workflow_name="method") as fc:
        assert m.step(4) == 8 and Model.step(m, x=5) == 10
    assert seen[0] is seen[1] is Model.step.__wrapped__.__defaults__[0]
    assert [t["generated"] for t in tasks(fc.get_buffer())] == [{"arg_0": 8}, {"arg_0": 10}]


@pytest.mark.parametrize("deco", DECORATORS)
def test_an_exception_is_recorded_as_error_and_propagates(deco):
    @deco
    def boom(x):
        raise ValueError(f"bad {x}")

    with Flowcept(workflow_name="boom") as fc:
        with pytest.raises(ValueError, match="bad 3"):
            boom(3)
    (t,) = tasks(fc.get_buffer())
    assert t["status"] == "ERROR" and "bad 3" in t["stderr"] and t["used"] == {"x": 3}


def test_parameters_named_like_the_generated_code_keep_the_generic_wrapper():
    @flowcept_task
    def odd(_fc_run, zero_args_ok=1):
        return _fc_run

    @flowcept_task
    def nothing():
        return 7

    assert odd.__code__.co_flags & inspect.CO_VARARGS
    with Flowcept(workflow_name="names") as fc:
        assert odd(5) == 5 and nothing() == 7
    a, b = tasks(fc.get_buffer())
    assert a["used"] == {"_fc_run": 5, "zero_args_ok": 1} and b["generated"] == {"arg_0": 7}


@pytest.mark.parametrize("deco", DECORATORS)
def test_parameters_named_like_builtins_are_the_callers_values(deco):
    @deco
    def step(next, BaseException=3, time=4):  # noqa: A002
        return next + BaseException + time

    with Flowcept(workflow_name="builtins") as fc:
        assert step(1) == 8
        with pytest.raises(TypeError):
            step()
    (t,) = tasks(fc.get_buffer())
    assert t["used"] == {"next": 1, "BaseException": 3, "time": 4} and t["generated"] == {"arg_0": 8}
