DROP TABLE IF EXISTS cost_full_reads;
