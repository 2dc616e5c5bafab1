"""The grading pipeline, one module a step: collect -> prepare (scan) -> execute -> judge -> record ->
feedback / export / report, with the late policy; autograde is the coordinator that runs it over a class on
an executor (local processes or Dask), passing jobs (plain data) to the workers."""
