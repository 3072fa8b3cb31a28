-- CreateTable
CREATE TABLE "metrics_session" (
    "session_id" TEXT NOT NULL,
    "agreement_id" TEXT,
    "key_fingerprint" TEXT NOT NULL,
    "package_name" TEXT NOT NULL,
    "package_version" TEXT NOT NULL,
    "api" TEXT NOT NULL,
    "api_name" TEXT NOT NULL,
    "service_name" TEXT NOT NULL,
    "instance" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "is_uat" BOOLEAN NOT NULL,
    "host" JSONB NOT NULL,
    "first_seen" TIMESTAMPTZ(6) NOT NULL,
    "last_seen" TIMESTAMPTZ(6) NOT NULL,
    "reports" BIGINT NOT NULL DEFAULT 0,
    "restarts" BIGINT NOT NULL DEFAULT 0,
    "facts_hash" TEXT NOT NULL,
    "last_state" BIGINT[],

    CONSTRAINT "metrics_session_pkey" PRIMARY KEY ("session_id")
);

-- CreateTable
CREATE TABLE "metrics_report" (
    "id" BIGSERIAL NOT NULL,
    "session_id" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "agreement_id" TEXT,
    "package_name" TEXT NOT NULL,
    "api" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(6) NOT NULL,
    "request_time_utc" BIGINT NOT NULL,
    "decision" TEXT NOT NULL,
    "kafka_partition" INTEGER NOT NULL,
    "kafka_offset" BIGINT NOT NULL,
    "restart" BOOLEAN NOT NULL,
    "symbols" BIGINT NOT NULL,
    "accounts" BIGINT NOT NULL,
    "users" BIGINT NOT NULL,
    "create_order" BIGINT NOT NULL,
    "modify_order" BIGINT NOT NULL,
    "cancel_order" BIGINT NOT NULL,
    "cancel_all_orders" BIGINT NOT NULL,
    "mass_quote" BIGINT NOT NULL,
    "cancel_quotes" BIGINT NOT NULL,
    "please_report" BOOLEAN NOT NULL,
    "please_report_details" BOOLEAN NOT NULL,
    "download_trades" BOOLEAN NOT NULL,
    "download_orders" BOOLEAN NOT NULL,
    "event_log" BOOLEAN NOT NULL,
    "position_manager" BOOLEAN NOT NULL,
    "risk_manager" BOOLEAN NOT NULL,
    "journal" BOOLEAN NOT NULL,
    "udp_publish" BOOLEAN NOT NULL,
    "int_sum" BIGINT NOT NULL,
    "int_500ns" BIGINT NOT NULL,
    "int_1us" BIGINT NOT NULL,
    "int_2us" BIGINT NOT NULL,
    "int_5us" BIGINT NOT NULL,
    "int_10us" BIGINT NOT NULL,
    "int_20us" BIGINT NOT NULL,
    "int_inf" BIGINT NOT NULL,
    "ext_sum" BIGINT NOT NULL,
    "ext_10us" BIGINT NOT NULL,
    "ext_100us" BIGINT NOT NULL,
    "ext_1ms" BIGINT NOT NULL,
    "ext_10ms" BIGINT NOT NULL,
    "ext_100ms" BIGINT NOT NULL,
    "ext_1s" BIGINT NOT NULL,
    "ext_inf" BIGINT NOT NULL,

    CONSTRAINT "metrics_report_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "metrics_latency_hourly" (
    "hour" TIMESTAMPTZ(6) NOT NULL,
    "agreement_id" TEXT NOT NULL,
    "package_name" TEXT NOT NULL,
    "api" TEXT NOT NULL,
    "reports" BIGINT NOT NULL,
    "int_sum" BIGINT NOT NULL,
    "int_500ns" BIGINT NOT NULL,
    "int_1us" BIGINT NOT NULL,
    "int_2us" BIGINT NOT NULL,
    "int_5us" BIGINT NOT NULL,
    "int_10us" BIGINT NOT NULL,
    "int_20us" BIGINT NOT NULL,
    "int_inf" BIGINT NOT NULL,
    "ext_sum" BIGINT NOT NULL,
    "ext_10us" BIGINT NOT NULL,
    "ext_100us" BIGINT NOT NULL,
    "ext_1ms" BIGINT NOT NULL,
    "ext_10ms" BIGINT NOT NULL,
    "ext_100ms" BIGINT NOT NULL,
    "ext_1s" BIGINT NOT NULL,
    "ext_inf" BIGINT NOT NULL,

    CONSTRAINT "metrics_latency_hourly_pkey" PRIMARY KEY ("hour","agreement_id","package_name","api")
);

-- CreateTable
CREATE TABLE "metrics_latency_daily" (
    "day" TIMESTAMPTZ(6) NOT NULL,
    "agreement_id" TEXT NOT NULL,
    "package_name" TEXT NOT NULL,
    "api" TEXT NOT NULL,
    "reports" BIGINT NOT NULL,
    "int_sum" BIGINT NOT NULL,
    "int_500ns" BIGINT NOT NULL,
    "int_1us" BIGINT NOT NULL,
    "int_2us" BIGINT NOT NULL,
    "int_5us" BIGINT NOT NULL,
    "int_10us" BIGINT NOT NULL,
    "int_20us" BIGINT NOT NULL,
    "int_inf" BIGINT NOT NULL,
    "ext_sum" BIGINT NOT NULL,
    "ext_10us" BIGINT NOT NULL,
    "ext_100us" BIGINT NOT NULL,
    "ext_1ms" BIGINT NOT NULL,
    "ext_10ms" BIGINT NOT NULL,
    "ext_100ms" BIGINT NOT NULL,
    "ext_1s" BIGINT NOT NULL,
    "ext_inf" BIGINT NOT NULL,

    CONSTRAINT "metrics_latency_daily_pkey" PRIMARY KEY ("day","agreement_id","package_name","api")
);

-- CreateTable
CREATE TABLE "metrics_api_key" (
    "key_id" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "public_key_pem" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "metrics_api_key_pkey" PRIMARY KEY ("key_id")
);

-- CreateIndex
CREATE INDEX "metrics_session_last_seen_idx" ON "metrics_session"("last_seen");

-- CreateIndex
CREATE INDEX "metrics_report_received_at_idx" ON "metrics_report"("received_at");

-- CreateIndex
CREATE INDEX "metrics_report_agreement_id_received_at_idx" ON "metrics_report"("agreement_id", "received_at");

-- CreateIndex
CREATE UNIQUE INDEX "metrics_report_session_id_nonce_key" ON "metrics_report"("session_id", "nonce");

-- CreateIndex
CREATE INDEX "metrics_api_key_owner_idx" ON "metrics_api_key"("owner");
