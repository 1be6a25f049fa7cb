"""The user data a baremetal server is rebuilt with: Heat's parts of what it was given, the
driver's parts anew.

Heat gives a server whose `user_data_format` is SOFTWARE_CONFIG (fragments/node.yaml) one
multipart MIME message: its agent's parts (a cloud-config, a boothook, a part handler and,
last, `cfn-init-data`, the resource metadata with the credentials the node polls Heat's API
with for software deployments), and between them each part of the driver's own multipart
user data, flattened as an attachment under its file name. A rebuild with new user data
must keep Heat's parts, or the rebuilt node could never receive a deployment again (a CA
rotation would wait for it forever); the driver's parts are the target's.

A server given the driver's message alone (Heat's RAW format, or the sandbox, whose
simulated servers boot what the driver rendered) gets the new message as it is.
"""

from __future__ import annotations

import email
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
import email.policy

#: The file names of the parts Heat's build_userdata adds (SOFTWARE_CONFIG and
#: HEAT_CFNTOOLS formats); every other part is the driver's.
HEAT_PARTS = frozenset({"cloud-config", "boothook.sh", "part-handler.py", "cfn-userdata",
                        "loguserdata.py", "cfn-init-data", "cfn-metadata-server",
                        "cfn-boto-cfg"})
#: Heat puts the driver's parts before these.
HEAT_TRAILERS = ("loguserdata.py", "cfn-init-data", "cfn-metadata-server", "cfn-boto-cfg")


def _parts(text: str) -> list[tuple[str, str, str]] | None:
    """(file name, text/ subtype, text) of each part of a multipart message, else None."""
    message = email.message_from_string(text, policy=email.policy.compat32)
    if not message.is_multipart():
        return None
    return [(part.get_filename() or "", part.get_content_subtype(),
             part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8"))
            for part in message.get_payload()]


def _message(parts: list[tuple[str, str, str]]) -> str:
    """A multipart message of text parts as Heat writes one (each an attachment)."""
    subparts = []
    for filename, subtype, text in parts:
        try:
            text.encode("us-ascii")
            charset = "us-ascii"
        except UnicodeEncodeError:
            charset = "utf-8"
        part = MIMEText(text, subtype, charset)
        part.add_header("Content-Disposition", "attachment", filename=filename)
        subparts.append(part)
    return MIMEMultipart(_subparts=subparts).as_string()


def rebuilt_user_data(given: str, ours: str) -> str:
    """What a server given `given` boots after a rebuild to the driver's new user data
    `ours`: `given` with the driver's parts replaced by those of `ours` where Heat's parts
    are in it, else `ours` itself."""
    old = _parts(given) if given else None
    if not old or not any(name in HEAT_PARTS for name, _, _ in old):
        return ours
    new = _parts(ours)
    if new is None:
        new = [("", "x-shellscript" if ours.startswith("#!") else "plain", ours)]
    heat = [p for p in old if p[0] in HEAT_PARTS]
    head = [p for p in heat if p[0] not in HEAT_TRAILERS]
    tail = [p for p in heat if p[0] in HEAT_TRAILERS]
    return _message(head + new + tail)
