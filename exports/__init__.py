"""Files organisers hand upward: the evidence archive as a zip (and, later, workbooks and the
year-end report). They read through campaign/ and write streams: memory does not grow with
the unit."""
