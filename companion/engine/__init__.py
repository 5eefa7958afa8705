"""The model-agnostic protection engine: attack loop, questions, targets, judge, image I/O, receipt."""
