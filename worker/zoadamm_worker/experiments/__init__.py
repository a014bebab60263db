"""The paper's experiments through the service: grids (``grid``), a resumable runner
(``runner``), and the analysis that draws the figures and writes the report (``analysis``)."""
