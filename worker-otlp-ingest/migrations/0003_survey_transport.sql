-- voicemode-otel ingest Worker: the `survey` transport.
--
-- VoiceMode's survey mode (a series of spoken questions, each answered aloud) logs
-- transport "survey"; the contract now lists it as the fourth value of
-- voicemode.transport, appended after the existing three so every stored cell code
-- keeps its meaning (a = the value's index in contract.json). These are the names
-- behind its new codes: a = 3 for both histograms. Nothing stored changes: no
-- report could hold a survey cell before this migration (the Worker refused the
-- value and the client sent such sessions as "unknown").
--
-- Deploy the Worker (this migration with the new contract) before clients that send
-- "survey": a Worker without them refuses every point of such a report (OTLP partial
-- success), and the client settles it as delivered-but-rejected, so it is lost.

INSERT INTO cell_names (m, a, b, metric, transport, bin, role, provider) VALUES
  (0, 3, 0, 'voicemode.session.duration', 'survey', '<1min', NULL, NULL),
  (0, 3, 1, 'voicemode.session.duration', 'survey', '1-5min', NULL, NULL),
  (0, 3, 2, 'voicemode.session.duration', 'survey', '5-10min', NULL, NULL),
  (0, 3, 3, 'voicemode.session.duration', 'survey', '10-20min', NULL, NULL),
  (0, 3, 4, 'voicemode.session.duration', 'survey', '20-60min', NULL, NULL),
  (0, 3, 5, 'voicemode.session.duration', 'survey', '>60min', NULL, NULL),
  (1, 3, 0, 'voicemode.session.exchanges', 'survey', '0', NULL, NULL),
  (1, 3, 1, 'voicemode.session.exchanges', 'survey', '1-5', NULL, NULL),
  (1, 3, 2, 'voicemode.session.exchanges', 'survey', '6-10', NULL, NULL),
  (1, 3, 3, 'voicemode.session.exchanges', 'survey', '11-20', NULL, NULL),
  (1, 3, 4, 'voicemode.session.exchanges', 'survey', '>20', NULL, NULL);
