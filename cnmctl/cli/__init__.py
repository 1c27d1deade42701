"""The command-line layer: parse, call the engine, render. No netlink here.

Kept free of imports so that `cnmctl.cli.direct` (the click-free path for
the commands scripts run in loops) and `cnmctl.cli.render` load without click; the click
command tree is in `cnmctl.cli.app`.
"""
