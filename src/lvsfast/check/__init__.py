"""Health checkers: sans-IO verdicts (state), probes on asyncio, and the checker subsystem."""
