-- One piece of evidence by number ($evidence_id): the name it was sent under and its archived copy.
SELECT file_name, archive_path
FROM evidence
WHERE evidence_id = $evidence_id;
