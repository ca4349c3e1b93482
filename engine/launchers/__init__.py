"""Launchers: who starts a run's worker processes, and where (local today; slurm and ray in issue 15)."""
