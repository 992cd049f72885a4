"""Background work: the job runner, import processing, maintenance."""
