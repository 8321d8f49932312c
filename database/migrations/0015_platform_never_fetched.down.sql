-- Nothing to undo: the status the up migration cleared was an error, not data.
SELECT 1;
