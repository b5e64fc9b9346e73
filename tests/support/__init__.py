"""Test helpers shared across the suite (import as ``support.<module>``)."""
