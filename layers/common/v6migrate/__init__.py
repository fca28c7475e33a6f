"""v6migrate: move EKS clusters and their VPCs from IPv4-only to dual-stack."""

__version__ = "0.1.0"
