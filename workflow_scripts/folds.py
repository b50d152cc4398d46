"""Rule folds: which test fold every frame belongs to."""

from auflow.evaluation.splits import make_folds
from auflow.io.dataset import concat_tables
from auflow.io.parquet import write_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
keys = concat_tables(snakemake.input.labels)[["subject", "frame"]]
p = snakemake.params
folds = make_folds(keys, snakemake.wildcards.split, p.k, p.seed, p.allow_leaky)
write_table(folds, snakemake.output.folds, {"split": snakemake.wildcards.split, "k": p.k})
