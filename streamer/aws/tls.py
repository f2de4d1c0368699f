"""TLS for the signed posts, and aiohttp imported without the CA bundle it loads for nothing.

What it does: `tls_context` makes the context every https connection of the signed posts uses:
trusting the bundle botocore would use (the one named: AWS_CA_BUNDLE or a profile's ca_bundle;
else certifi's; else the one botocore ships: `default_ca_bundle`; the system's store only when
none exists). A bundle that cannot be read is a configuration error.

`import_aiohttp` imports aiohttp with OpenSSL's default verify paths not loaded: aiohttp builds
two default TLS contexts as it is imported (`aiohttp.connector`), each reading the whole CA
bundle (about 0.04 s of CPU, an eighth of an empty run's start-up), and the streamer uses
neither: the signed posts pass `tls_context`'s, aiobotocore passes its own, the HTTP input's
server its own. The verified one then trusts no CA, so a connection that fell back on it would
fail verification rather than pass; the unverified one is aiohttp's answer to `ssl=False`, which
the posts pass only for a plain-HTTP endpoint (and never follow a redirect). It does nothing when
aiohttp is already imported; the package imports it first (`aws/__init__.py`).

What it leaves out: client certificates, and TLS of the HTTP input (`sources/http.py`).
"""

from __future__ import annotations

import ssl
import sys

from streamer.aws.route import botocore_file
from streamer.errors import ConfigError


def import_aiohttp() -> bool:
    """Import aiohttp without loading CA bundles into its default contexts; False when it was
    imported already (and then untouched)."""
    if "aiohttp" in sys.modules:
        return False
    load = ssl.SSLContext.set_default_verify_paths
    ssl.SSLContext.set_default_verify_paths = _skip  # type: ignore[method-assign,assignment]
    try:
        import aiohttp  # noqa: F401, PLC0415 - the import is the point
    finally:
        ssl.SSLContext.set_default_verify_paths = load  # type: ignore[method-assign]
    return True


def _skip(context: ssl.SSLContext) -> None:
    """set_default_verify_paths while aiohttp is imported: nothing loaded."""


def default_ca_bundle() -> str | None:
    """The CA bundle botocore verifies against when none is named: certifi's when certifi is
    installed, else the one botocore ships (found without importing botocore)."""
    try:
        import certifi  # noqa: PLC0415 - only when a TLS context is made

        return str(certifi.where())
    except ImportError:
        pass
    return botocore_file("cacert.pem")


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A verifying context trusting `ca_bundle`, else `default_ca_bundle()`, else the system's
    store; a bundle that cannot be read is a configuration error."""
    bundle = ca_bundle or default_ca_bundle()
    try:
        return ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"the CA bundle {bundle} cannot be used: {exc}") from exc
