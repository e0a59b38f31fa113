"""HTML reports of runs and sweeps, and Markdown rendered to styled HTML (``botmm report``)."""
