"""Rule leakage_comparison: honest and leaky splits side by side, with their difference
(auflow.summary.write_leakage_comparison)."""

from auflow.summary import write_leakage_comparison
from auflow.workflow import log_to

log_to(snakemake.log[0])
i, p = snakemake.input, snakemake.params
write_leakage_comparison(i.per_fold, i.pooled, i.provenance, p.split, p.compared, snakemake.output)
