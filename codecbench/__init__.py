"""codecbench: measure what image compression does to bits, image quality and vision tasks.

The package holds the logic of the Snakemake workflow (``Snakefile``, ``rules/``): codecs, datasets and
metrics, each behind one registry, plus the table and figure builders. Scripts under ``scripts/`` only read
Snakemake's inputs and call into here.
"""

__version__ = "0.1.0"
