"""Print a plugin's call log (tests/plugins/server.py's JSON lines) for the lab: one line
per call, the method and the payload's telling fields, IDs cut to 12 digits as Docker
shows them."""

import json
import sys

SHOWN = ("NetworkID", "EndpointID", "SandboxKey", "Interface", "IPv4Data", "Options")


def short(value):
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    if isinstance(value, dict):
        return {k: short(v) for k, v in value.items() if v not in ("", {}, [], None)}
    if isinstance(value, list):
        return [short(v) for v in value]
    return value


with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        call = json.loads(line)
        payload = {k: short(call["payload"][k]) for k in SHOWN
                   if call["payload"] and call["payload"].get(k) not in (None, "", {}, [])}
        print(f"{call['method']:<42} {json.dumps(payload) if payload else ''}".rstrip())
