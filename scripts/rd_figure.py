"""Rule rd_figure: one rate-distortion figure (a quality metric against bpp) with every codec of a dataset."""

from codecbench.aggregate import COMPRESSAI_KEYS
from codecbench.figures import METRIC_LABELS, load_documents, plot_rate_distortion
from codecbench.workflow import job_log


def main(smk):
    with job_log(smk.log[0]) as log:
        key = COMPRESSAI_KEYS[smk.wildcards.metric]
        title = f"{smk.wildcards.dataset}: {METRIC_LABELS[key]} against rate"
        drawn = plot_rate_distortion(load_documents(smk.input), key, title, smk.output[0])
        log.info("curves drawn: %s", ", ".join(drawn) or "none")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
