"""The sandbox layer: a container's network namespace and what is in it.

    netns.py       create and delete the namespace (killing what is left inside)
    interfaces.py  apply a driver's JoinInfo (plug, unplug, routes); host links
    files.py       /etc/hosts, resolv.conf and hostname as the container sees them

Drivers decide (drivers/api.py), this layer applies; the engine calls it and
never netlink itself.
"""
