"""The only place stages meet: hunt (whole-directory) and station (streaming) pipelines."""
