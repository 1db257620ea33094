"""What the pipeline shows: figures, the stage costs, provenance and the generated reference pages."""
