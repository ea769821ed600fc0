"""The ``vinnp`` command line (installed as ``vinnp.cli``)."""
