"""The project's own extension, as browsers name it: the callers a host serves by default.

The Chromium extension's manifest pins this public `key`, so its id is the same for every
unpacked install (the id is the first 128 bits of the key's SHA-256, written with the
letters a-p). The Firefox extension's id is set in its manifest
(`browser_specific_settings.gecko.id`).
"""

from __future__ import annotations

import base64
import hashlib

#: the public key (DER, base64) the Chromium manifest pins
EXTENSION_KEY = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2l9yM5gWsylhs2ASjEpFHbJ0o2xNZI3VGSfj/pM/wvrfSs89gHGk"
    "C74P42i1KGtoAv4rZj8bTPVZhHJXOx3/l5MILbTO2asygA438JxT/AYTEqSAGi5/TZE7bJxRVtzm8KMvchZAHkfd9fyUfmde"
    "HPJwt6IJOqtY6WT5ITsxkPo9XVJ7dbNzd6/lmTZv0L6CswQM6ScBI4rs3cGrCgSGYu6vUOnOQCQuqXDtFty30FdbqOm6iM5g"
    "AyzMWbbAAHHli5/jbyonwN8Rf/bXdqQ9XEHYB46Nuw6zqdmomZukWTySc/46sepNwAHTKwzu8UIKTEFZgYdWIO+czvuyPC5k"
    "KQIDAQAB"
)
FIREFOX_ID = "imageprotector@imageprotector.org"


def extension_id(key_b64: str) -> str:
    """The Chromium extension id a manifest `key` gives."""
    digest = hashlib.sha256(base64.b64decode(key_b64)).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


CHROMIUM_ID = extension_id(EXTENSION_KEY)
assert CHROMIUM_ID == "ebnpcaphegkiiedmnllikdbdglmdklpc"
#: what `main.caller` returns for our extension in each browser family
DEFAULT_CALLERS = (f"chrome-extension://{CHROMIUM_ID}/", FIREFOX_ID)
