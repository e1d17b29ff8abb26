"""AWS Signature Version 4 verification: proves a request was signed with a known secret key.

Server-side counterpart of botocore's ``SigV4Auth``, ``SigV4QueryAuth`` and ``S3SigV4Auth``; the
canonical request must match what those signers build byte for byte. References:

- AWS General Reference, "Elements of an AWS API request signature" and "Create a signed AWS API
  request" (canonical request, string to sign, signing key).
- Amazon S3 API Reference, "Authenticating Requests: Using Query Parameters (AWS Signature
  Version 4)" (presigned URLs, ``X-Amz-Expires``) and "Signature Calculations for the
  Authorization Header" (S3 paths are encoded once and not normalized).

A server uses it in steps, so it can reject malformed, mis-scoped and stale requests before it
touches the credential store, and unknown keys before it reads the body::

    parsed = parse_request_signature(headers, raw_query)
    check_scope_and_time(parsed, now, region=..., service=...)
    secret = store.secret_for(parsed.access_key_id)  # or raise UnrecognizedClient()
    ...  # read the body, hashing it
    verify_signature(parsed, CanonicalInputs(...), secret, now, region=..., service=...)

Error messages follow the text AWS sends for the same fault; none contains a secret key, a
session token or a computed signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import ClassVar
from urllib.parse import quote, unquote_to_bytes

from packyard.errors import Denied, PackyardError, Unauthenticated

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DEFAULT_MAX_SKEW = timedelta(minutes=15)
# S3 caps presigned URLs at seven days; every SigV4 signer (botocore included) refuses more.
MAX_PRESIGN_EXPIRES = 604800

_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# The Authorization header's fields are comma-separated; clients differ on the spaces around
# the commas, and AWS accepts any mix, so split on both.
_AUTH_FIELD_SEPARATOR = re.compile(r"[,\s]+")

_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class SignatureError(PackyardError):
    """Base of every SigV4 rejection; ``code`` and ``http_status`` are what AWS answers with."""

    code: ClassVar[str]
    http_status: ClassVar[int]


class MissingAuthenticationToken(SignatureError, Unauthenticated):
    """The request carries neither an Authorization header nor a presigned query string."""

    code = "MissingAuthenticationTokenException"
    http_status = 403

    def __init__(self, message: str = "Missing Authentication Token") -> None:
        super().__init__(message)


class IncompleteSignature(SignatureError, Denied):
    """The signature is malformed: a missing field, a bad credential scope, a bad date."""

    code = "IncompleteSignatureException"
    http_status = 400


class InvalidSignature(SignatureError, Denied):
    """The signature is well formed but wrong, mis-scoped, or does not cover what it must."""

    code = "InvalidSignatureException"
    http_status = 403


class RequestTimeSkewed(InvalidSignature):
    """The signing time is more than the allowed skew away from the server's clock."""


class PayloadHashMismatch(InvalidSignature):
    """The body does not hash to the x-amz-content-sha256 value the client signed."""

    def __init__(
        self,
        message: str = "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ) -> None:
        super().__init__(message)


class PresignedUrlExpired(SignatureError, Denied):
    """A presigned URL is used after its X-Amz-Date plus X-Amz-Expires (S3's wording and times)."""

    code = "AccessDeniedException"
    http_status = 403

    def __init__(self, expires_at: datetime, server_time: datetime) -> None:
        super().__init__("Request has expired")
        self.expires_at = expires_at
        self.server_time = server_time


class UnrecognizedClient(SignatureError, Denied):
    """The access key id (or session token) is unknown; raised by the caller's credential lookup."""

    code = "UnrecognizedClientException"
    http_status = 403

    def __init__(
        self, message: str = "The security token included in the request is invalid."
    ) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class CanonicalInputs:
    """The parts of a received request that a SigV4 signature covers, exactly as they arrived.

    ``raw_path`` and ``raw_query`` are the percent-encoded target as received (ASGI
    ``scope["raw_path"]`` and ``scope["query_string"]`` decoded as latin-1); header values are
    latin-1 decoded too, as HTTP delivers bytes. ``payload_hash`` is what the client signed as the
    body: see :func:`payload_hash_to_sign`.
    """

    method: str
    raw_path: str
    raw_query: str
    headers: tuple[tuple[str, str], ...]
    payload_hash: str


@dataclass(frozen=True)
class ParsedSignature:
    """What a request claims about its signature, checked for form but not yet verified."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: datetime
    is_presigned: bool
    # Only presigned URLs carry a lifetime; header-signed requests get the clock-skew window.
    expires: timedelta | None = None
    session_token: str | None = field(default=None, repr=False)

    @property
    def credential_scope(self) -> str:
        """The scope as the client wrote it: ``date/region/service/aws4_request``."""
        return f"{self.scope_date}/{self.region}/{self.service}/{self.terminator}"


def parse_request_signature(
    headers: Iterable[tuple[str, str]], raw_query: str = ""
) -> ParsedSignature:
    """Read the signature a request presents, from its Authorization header or presigned query.

    Raises MissingAuthenticationToken, IncompleteSignature or InvalidSignature for requests that
    cannot be verified whatever the secret key.
    """
    header_map = _header_map(headers)
    query = [(key.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
             for key, value in _query_pairs(raw_query)]
    authorization = header_map.get("authorization")
    # AWS treats the query as presigned as soon as X-Amz-Algorithm appears, even empty.
    is_presigned = any(key == "X-Amz-Algorithm" for key, _ in query)
    if authorization is not None and is_presigned:
        raise InvalidSignature(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP "
            "header."
        )
    if authorization is not None:
        return _parse_header_auth(authorization[0], header_map)
    if is_presigned:
        return _parse_query_auth(query, header_map)
    raise MissingAuthenticationToken()


def verify_signature(
    parsed: ParsedSignature,
    request: CanonicalInputs,
    secret_key: str,
    now: datetime,
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    region: str | Collection[str] | None = None,
    service: str | None = None,
) -> None:
    """Check the signature's timing, scope and value; return quietly only if all hold.

    ``now`` is the server's clock (naive means UTC). ``region`` (one region or the set of
    them) and ``service``, when given, are the scope this endpoint serves; a credential scoped
    elsewhere is refused as AWS does.
    """
    check_scope_and_time(parsed, now, max_skew=max_skew, region=region, service=service)
    expected = compute_signature(parsed, request, secret_key)
    if not hmac.compare_digest(expected.encode("utf-8"), parsed.signature.encode("utf-8")):
        raise InvalidSignature(_SIGNATURE_MISMATCH)


def check_scope_and_time(
    parsed: ParsedSignature,
    now: datetime,
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    region: str | Collection[str] | None = None,
    service: str | None = None,
) -> None:
    """The checks of ``verify_signature`` that need neither the secret nor the body."""
    _check_time(parsed, _as_utc(now), max_skew)
    regions = (region,) if isinstance(region, str) else region
    _check_scope(parsed, regions, service)


def declared_payload_hash(headers: Iterable[tuple[str, str]]) -> str | None:
    """The client's x-amz-content-sha256, checked for form: UNSIGNED-PAYLOAD, a sha256 in hex
    (lower case), or None when the header is absent."""
    declared = _header_map(headers).get("x-amz-content-sha256")
    if declared is None:
        return None
    value = declared[0].strip()
    if value == UNSIGNED_PAYLOAD:
        return value
    if _SHA256_HEX.fullmatch(value):
        return value.lower()
    # The STREAMING-* forms frame the body in signed chunks, which nothing here decodes yet.
    raise IncompleteSignature(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value."
    )


def payload_hash_to_sign(headers: Iterable[tuple[str, str]], body_sha256: str) -> str:
    """The payload hash the client signed: its x-amz-content-sha256 when sent, else the body's.

    botocore signs the header's value verbatim (``UNSIGNED-PAYLOAD`` for operations whose body is
    not signed), so the canonical request must use it as-is; a hex value must then match the
    body, or the signature would not protect the body at all.
    """
    declared = _header_map(headers).get("x-amz-content-sha256")
    value = declared_payload_hash(headers)
    if value is None:
        return body_sha256
    if value == UNSIGNED_PAYLOAD:
        return value
    if value != body_sha256.lower():
        raise PayloadHashMismatch()
    assert declared is not None
    return declared[0].strip()  # signed as sent, whatever its case


def canonical_request(parsed: ParsedSignature, request: CanonicalInputs) -> str:
    """The canonical request (task 1 of SigV4) for ``request`` under ``parsed``'s signed headers."""
    is_s3 = parsed.service == "s3"
    # S3 presigned URLs always sign the literal UNSIGNED-PAYLOAD: the body is unknown at signing.
    payload = UNSIGNED_PAYLOAD if is_s3 and parsed.is_presigned else request.payload_hash
    header_block = "".join(
        f"{name}:{value}\n" for name, value in _canonical_headers(request.headers, parsed)
    )
    return "\n".join([
        request.method.upper(),
        _canonical_uri(request.raw_path, is_s3=is_s3),
        _canonical_query(request.raw_query, is_presigned=parsed.is_presigned),
        header_block,
        ";".join(parsed.signed_headers),
        payload,
    ])


def string_to_sign(parsed: ParsedSignature, canonical: str) -> str:
    """The string to sign (task 2 of SigV4) for a canonical request."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return "\n".join([
        ALGORITHM, parsed.amz_date.strftime(_AMZ_DATE_FORMAT), parsed.credential_scope, digest
    ])


def compute_signature(parsed: ParsedSignature, request: CanonicalInputs, secret_key: str) -> str:
    """The hex signature a client holding ``secret_key`` would have sent for ``request``."""
    key = f"AWS4{secret_key}".encode()
    for part in (parsed.scope_date, parsed.region, parsed.service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    message = string_to_sign(parsed, canonical_request(parsed, request))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _parse_header_auth(authorization: str, headers: dict[str, list[str]]) -> ParsedSignature:
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme == ALGORITHM:
        fields = _auth_fields(rest)
    elif scheme.startswith("AWS4-"):
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{scheme}'.")
    else:
        # Any other scheme (Bearer, Basic, ...) gets API Gateway's list of what is missing.
        fields = {}
    date_header = next((name for name in ("x-amz-date", "date") if name in headers), None)
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    if date_header is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        # AWS echoes the whole header; only the scheme is echoed here, as it may hold a token.
        raise IncompleteSignature(" ".join([*problems, f"Authorization={scheme}"]))
    assert date_header is not None
    signed_headers = _signed_headers(fields["SignedHeaders"])
    _require_signed(signed_headers, date_header)
    token = headers.get("x-amz-security-token")
    return ParsedSignature(
        *_split_credential(fields["Credential"]),
        signed_headers=signed_headers,
        signature=fields["Signature"],
        amz_date=_parse_date(headers[date_header][0], allow_http_date=date_header == "date"),
        is_presigned=False,
        session_token=token[0] if token else None,
    )


def _parse_query_auth(
    query: list[tuple[str, str]], headers: dict[str, list[str]]
) -> ParsedSignature:
    params: dict[str, str] = {}
    for key, value in query:
        params.setdefault(key, value)
    required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders",
                "X-Amz-Date")
    problems = [
        f"AWS query-string parameters must include '{name}'." for name in required
        if not params.get(name)
    ]
    if problems:
        raise IncompleteSignature(" ".join([*problems, "Re-examine the query-string parameters."]))
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.")
    signed_headers = _signed_headers(params["X-Amz-SignedHeaders"])
    _require_signed(signed_headers, None)
    header_token = headers.get("x-amz-security-token")
    return ParsedSignature(
        *_split_credential(params["X-Amz-Credential"]),
        signed_headers=signed_headers,
        signature=params["X-Amz-Signature"],
        amz_date=_parse_date(params["X-Amz-Date"], allow_http_date=False),
        is_presigned=True,
        expires=_parse_expires(params.get("X-Amz-Expires")),
        session_token=params.get("X-Amz-Security-Token")
        or (header_token[0] if header_token else None),
    )


def _auth_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in _AUTH_FIELD_SEPARATOR.split(text.strip()):
        if not part:
            continue
        name, equals, value = part.partition("=")
        if not equals:
            raise IncompleteSignature(
                f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization header."
            )
        fields[name] = value
    return fields


def _split_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        # AWS's message quotes the whole credential; here only its scope's elements are: a
        # secret access key pasted as the key id (swapped in a client's configuration) holds
        # "/" about every other time, and this message goes to the server's log and the audit
        # trail, which others read.
        scope = "/".join(parts[1:][-4:])
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '…/{scope}' ({len(parts)} elements)"
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _signed_headers(text: str) -> tuple[str, ...]:
    # The spec requires lowercase names; lowering them keeps one spelling for lookups.
    return tuple(name.strip().lower() for name in text.split(";"))


def _require_signed(signed_headers: tuple[str, ...], date_header: str | None) -> None:
    """Refuse signatures that leave the host, or the header carrying the time, unsigned.

    An unsigned Host would let a signature be replayed against another endpoint; an unsigned date
    would let an old signature be made current again.
    """
    if "host" not in signed_headers:
        raise InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    if date_header is not None and date_header not in signed_headers:
        shown = "X-Amz-Date" if date_header == "x-amz-date" else "Date"
        raise InvalidSignature(f"'{shown}' must be a 'SignedHeader' in the AWS Authorization.")


def _parse_date(text: str, *, allow_http_date: bool) -> datetime:
    value = text.strip()
    if _AMZ_DATE.fullmatch(value):
        try:
            return datetime.strptime(value, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            pass
    elif allow_http_date:
        # The Date header uses the HTTP (RFC 7231 IMF-fixdate) form; botocore sends that.
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return _as_utc(parsed)
    raise IncompleteSignature(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _parse_expires(text: str | None) -> timedelta | None:
    if text is None:
        return None
    if not re.fullmatch(r"-?\d+", text):
        raise IncompleteSignature("X-Amz-Expires should be a number")
    seconds = int(text)
    if seconds < 0:
        raise IncompleteSignature("X-Amz-Expires must be non-negative")
    if seconds > MAX_PRESIGN_EXPIRES:
        raise IncompleteSignature(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
        )
    return timedelta(seconds=seconds)


def _check_time(parsed: ParsedSignature, now: datetime, max_skew: timedelta) -> None:
    signed_at = parsed.amz_date
    latest = now + max_skew
    if signed_at > latest:
        raise RequestTimeSkewed(
            f"Signature not yet current: {_stamp(signed_at)} is still later than {_stamp(latest)} "
            f"({_stamp(now)} + {_describe(max_skew)}.)"
        )
    if parsed.expires is not None:
        expires_at = signed_at + parsed.expires
        if now > expires_at:
            raise PresignedUrlExpired(expires_at=expires_at, server_time=now)
        return
    earliest = now - max_skew
    if signed_at < earliest:
        raise RequestTimeSkewed(
            f"Signature expired: {_stamp(signed_at)} is now earlier than {_stamp(earliest)} "
            f"({_stamp(now)} - {_describe(max_skew)}.)"
        )


def _check_scope(parsed: ParsedSignature, regions: Collection[str] | None,
                 service: str | None) -> None:
    # AWS reports every scope fault at once, in this order.
    problems = []
    if regions is not None and parsed.region not in regions:
        problems.append(f"Credential should be scoped to a valid region, not '{parsed.region}'.")
    if service is not None and parsed.service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'.")
    if parsed.terminator != TERMINATOR:
        problems.append(
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not '{parsed.terminator}'."
        )
    signed_day = parsed.amz_date.strftime("%Y%m%d")
    if parsed.scope_date != signed_day:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            f"HTTP: '{parsed.scope_date}' != '{signed_day}', from '{_stamp(parsed.amz_date)}'."
        )
    if problems:
        raise InvalidSignature(" ".join(problems))


def _canonical_uri(raw_path: str, *, is_s3: bool) -> str:
    if is_s3:
        # S3 signs the path as sent: no dot-segment removal, no second encoding.
        return raw_path or "/"
    # Other services sign the normalized path percent-encoded again, so '%20' on the wire
    # becomes '%2520' (botocore quotes the already-encoded URL path with safe='/~').
    return quote(_wire_bytes(_normalize_path(raw_path)), safe="/~")


def _normalize_path(path: str) -> str:
    """Remove '.' and '..' segments (RFC 3986 5.2.4) and empty segments, as AWS requires."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    normalized = "/".join(kept)
    if path.startswith("/"):
        normalized = "/" + normalized
    if path.endswith("/") and kept:
        normalized += "/"
    return normalized


def _canonical_query(raw_query: str, *, is_presigned: bool) -> str:
    pairs = [
        (quote(key, safe="-_.~"), quote(value, safe="-_.~"))
        for key, value in _query_pairs(raw_query)
        # A presigned URL's signature cannot sign itself.
        if not (is_presigned and key == b"X-Amz-Signature")
    ]
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _query_pairs(raw_query: str) -> list[tuple[bytes, bytes]]:
    """Decode a raw query string into byte pairs, in order, keeping repeats and blank values.

    '+' is a space, as in form encoding: botocore sends ``params`` with urlencode (which writes
    spaces as '+') but signs them with '%20'.
    """
    pairs = []
    for item in _wire_bytes(raw_query).split(b"&"):
        if not item:
            continue
        key, _, value = item.partition(b"=")
        pairs.append((unquote_to_bytes(key.replace(b"+", b" ")),
                      unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def _canonical_headers(
    headers: Iterable[tuple[str, str]], parsed: ParsedSignature
) -> list[tuple[str, str]]:
    header_map = _header_map(headers)
    # Repeated headers join with commas in arrival order; each value has its whitespace runs
    # folded to one space and its ends trimmed (the spec's Trimall, as botocore does it).
    return [
        (name, ",".join(" ".join(value.split()) for value in header_map.get(name, [])))
        for name in parsed.signed_headers
    ]


def _header_map(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    header_map: dict[str, list[str]] = {}
    for name, value in headers:
        header_map.setdefault(name.strip().lower(), []).append(value)
    return header_map


def _wire_bytes(text: str) -> bytes:
    """The bytes a latin-1 decoded request part came from.

    A caller that passes already-decoded text (characters past U+00FF) gets UTF-8, which is what
    a client would have sent for it.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime(_AMZ_DATE_FORMAT)


def _describe(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} sec"
