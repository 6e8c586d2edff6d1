"""flowcept-torch: PyTorch instrumentation for flowcept.

``@flowcept_torch`` on an ``nn.Module`` class records each forward call as a task (and, when the settings ask, each
direct child module's forward); ``FlowceptEpochLoop`` and ``FlowceptBatchLoop`` nest those forwards under the epoch
and batch iterations of a training loop. Import them from ``flowcept`` (``from flowcept import flowcept_torch``) or
from ``flowcept_torch.instrument``. Importing this package does not import torch.
"""

__all__: list[str] = []
