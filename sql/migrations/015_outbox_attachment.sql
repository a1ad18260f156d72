-- A file sent with a message where its channel can carry one (e-mail): the briefing's PDF with
-- the 通报. Bots carry none: their 通报 names the briefing's copy on the dashboard.
ALTER TABLE outbox ADD COLUMN attachment VARCHAR;
