"""The lab: lvsfast's test network of namespaces, used by the tests, the benches and ``lvsfast lab``."""
