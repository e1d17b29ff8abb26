"""The key-provider tests' OpenBao server is the session's (``tests/openbao.py``)."""
