"""Docker's legacy plugin protocol, engine side: finding plugins and calling them.

discovery.py finds a plugin by name as Docker does (sockets, .spec and .json
files); client.py speaks HTTP over its socket. The remote network driver
(drivers/remote.py) and the remote IPAM (ipam/remote.py) are built on them.
"""
