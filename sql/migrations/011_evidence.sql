-- Evidence (佐证材料) a unit attached to a task through its portal link: archived unchanged under
-- its SHA-256 like the reports (data/archive/evidence/), never opened by ducha.
CREATE SEQUENCE evidence_id_seq START 1;
CREATE TABLE evidence (
    evidence_id  INTEGER PRIMARY KEY DEFAULT nextval('evidence_id_seq'),
    unit         VARCHAR NOT NULL,
    period       VARCHAR NOT NULL,            -- YYYY-MM
    task_id      VARCHAR NOT NULL,
    file_name    VARCHAR NOT NULL,            -- the name it was sent under (made safe)
    sha256       VARCHAR NOT NULL,
    bytes        BIGINT NOT NULL,
    archive_path VARCHAR NOT NULL,
    received_at  TIMESTAMP NOT NULL           -- when the server received it
);
