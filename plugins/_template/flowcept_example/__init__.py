"""flowcept-example: the smallest complete flowcept plugin (an interceptor), to copy and rename."""
