"""aiohttp, imported without the CA bundle loads of its default TLS contexts.

What it does: importing this module imports aiohttp through `tls.import_aiohttp` (see there: about
0.04 CPU s saved, and the default contexts trust nothing). A module that imports aiohttp imports
this one first (`# isort: split` keeps the order).

What it leaves out: everything else; a run that needs no aiohttp (no proxy, no HTTP input, no
status endpoint, the direct route) never imports it.
"""

from streamer.aws.tls import import_aiohttp

import_aiohttp()
