"""The vendor adapters: one subpackage per vendor (mapping, client, destination)."""
