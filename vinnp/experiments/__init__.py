"""The paper's experiments (Section 4.1 ``noisy``, Section 4.2 ``pixels``): many training runs,
their tables and figures. The top floor below the CLI: it trains (vinnp.training) and scores
(vinnp.evaluation)."""
