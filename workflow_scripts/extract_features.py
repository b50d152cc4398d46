"""Rule extract_features: features of one shard of one subject's images."""

from auflow.features.extract import extract_shard, extraction_metadata
from auflow.io.discovery import read_manifest
from auflow.io.parquet import write_table
from auflow.workflow import log_to, use_threads

log_to(snakemake.log[0])
use_threads(snakemake.threads)
extractor = snakemake.wildcards.extractor
params = dict(snakemake.params.extractor_params)
table = extract_shard(
    snakemake.wildcards.subject,
    [path for _, path in read_manifest(snakemake.input.frames)],
    extractor,
    params,
    snakemake.params.face_size,
    align=snakemake.params.align,
)
metadata = extraction_metadata(
    extractor, params, snakemake.params.face_size, snakemake.params.align
)
write_table(table, snakemake.output.features, metadata)
