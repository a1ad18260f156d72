"""ducha（督查）：政府工作报告目标任务的月度督查流水线。

One package per stage of the year and the month, in the order the data flows:

    targets/      the year's register: decomposition tables read (tables), metrics proposed
                  from the task texts (metrics), .docx tables read safely (word), imported and re-imported (register), confirmed
                  by people in a review file (review)
    submissions/  the month's reports: who reports what (assignments), templates out,
                  files in (intake, inbox; checked before reading: containers, biff, zipped;
                  read: spreadsheet), who and when (identify), the table
                  found (layout), rows mapped (rows) and checked (checks, checking), in
                  parallel for large batches (parallel; the portal's: checkers), stored whole or not at all (store,
                  ingest), answered (receipts)
    evaluation/   the period judged: inputs → rules → judgements → store
    reporting/    the briefing: what it shows (briefing), its charts, HTML and .xlsx files
    notices/      who is told what (planning), in which words (rendering), through which
                  channel (channels, secrets, transports), exactly once (outbox)

Shared: config (one configuration object), environment, vocabulary (the words and their
Chinese labels), db, workspace, units, periods, workdays, clock, templating, errors, backup;
sandbox (the child process untrusted files are parsed in, under hard limits) and neutral (what
people outside the office wrote, made harmless for each format it is shown in).
operations lists every operation the command line (cli) and the Prefect flows (flows/) call;
orchestration holds those steps as Prefect tasks and the deployments of prefect.yaml;
presentation is everything they print or show.
"""

__version__ = "0.1.0"
