"""Why a client could not connect to Kafka, as one line that says what to fix.

aiokafka's clients fail to start with "Unable to bootstrap from [...]" whatever went wrong,
and log the cause separately. `connection_problem` makes one connection attempt of its own
with the same settings and puts its failure into words: nothing listening, a refused
SASL login, an untrusted certificate, a secured broker reached without security. It never
includes the password.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
)

from modelrouter.schemas import Settings

__all__ = ["connection_problem", "unreachable_error"]


def _describe(settings: Settings, exc: BaseException) -> str:
    if isinstance(exc, SaslAuthenticationFailed | AuthenticationFailedError):
        return (
            f"the broker refused the {settings.sasl_mechanism} login of user {settings.sasl_username!r}: "
            "check MODELROUTER_SASL_USERNAME and MODELROUTER_SASL_PASSWORD"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the broker's TLS certificate is not trusted ({exc.verify_message}): "
            "set MODELROUTER_SSL_CAFILE to the CA that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({exc.reason or exc}): does the broker listen with TLS?"
    if isinstance(exc, ConnectionRefusedError):
        return "no broker answered"
    if isinstance(exc, KafkaConnectionError | ConnectionResetError | asyncio.IncompleteReadError):
        if settings.security_protocol == "PLAINTEXT":
            return (
                "the broker closed the connection: it may expect TLS and SASL, so set "
                "MODELROUTER_SECURITY_PROTOCOL and the MODELROUTER_SASL_* credentials"
            )
        return f"the broker closed the connection ({exc}): check MODELROUTER_SECURITY_PROTOCOL"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


async def connection_problem(settings: Settings, timeout_s: float = 10.0) -> str:
    """What stops a client with these settings from connecting to the first bootstrap server."""
    host, _, port = settings.bootstrap_list[0].rpartition(":")
    kwargs = settings.aiokafka_kwargs()
    kwargs.pop("bootstrap_servers")
    kwargs.setdefault("sasl_mechanism", None)
    try:
        conn = await asyncio.wait_for(
            create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **kwargs), timeout_s
        )
    except TimeoutError:
        return f"no answer within {timeout_s:.0f} s"
    except (KafkaError, OSError, asyncio.IncompleteReadError) as exc:
        cause = exc.__cause__ if isinstance(exc, KafkaConnectionError) and exc.__cause__ else exc
        return _describe(settings, cause)
    conn.close()
    return "a first connection succeeded, but the client could not bootstrap (try again)"


async def unreachable_error(settings: Settings) -> KafkaConnectionError:
    """The KafkaConnectionError to raise in place of aiokafka's, with the cause in words."""
    problem = await connection_problem(settings)
    return KafkaConnectionError(f"cannot connect to Kafka at {settings.bootstrap_servers}: {problem}")
