"""cnmctl's nftables firewall."""
