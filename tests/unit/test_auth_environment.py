"""The request environment read from an ASGI scope (``packyard/auth/environment.py``)."""

from __future__ import annotations

from packyard.auth import environment
from packyard.auth.environment import environment_of


def _scope(user_agent: bytes | None) -> dict[str, object]:
    headers = [] if user_agent is None else [(b"user-agent", user_agent)]
    return {"type": "http", "client": ("10.0.0.7", 5000), "scheme": "http", "headers": headers}


def test_the_environment_names_the_client_address_transport_and_user_agent() -> None:
    env = environment_of(_scope(b"pip/26.3 {\"ci\":null}"))
    assert (env.source_ip, env.secure_transport, env.user_agent) == (
        "10.0.0.7", False, 'pip/26.3 {"ci":null}')
    assert environment_of(_scope(None)).user_agent is None


def test_regression_long_user_agents_are_not_remembered() -> None:
    # The caller chooses the header: the remembered environments must not hold what it sends.
    environment._environment.cache_clear()
    long_agent = b"x" * 64 * 1024
    for n in range(20):
        env = environment_of(_scope(long_agent + str(n).encode()))
        assert env.user_agent == (long_agent + str(n).encode()).decode()
    assert environment._environment.cache_info().currsize == 0
    environment_of(_scope(b"uv/0.13.9"))
    assert environment._environment.cache_info().currsize == 1
