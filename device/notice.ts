/**
 * Fail-over notices as devices read them. The schema (fields, versions, the rule for older and
 * newer notices) is functions/health/notice.ts, the module the notifier that publishes them uses
 * too; this file only re-exports it for device code.
 *
 * - `targetRegion` (v1; `region` in v0) names the region to move to; the device maps it to an
 *   endpoint name from its own `regionEndpoints` (a notice can never point a device at a host it
 *   was not configured for). Without one, the device re-resolves its fail-over endpoint and
 *   follows DNS.
 * - `spreadMs` spreads the fleet's moves over a window (fleet size / connect quota, e.g.
 *   100,000 devices / 500 per s = 200 s); default from the client's `noticeSpreadMs`.
 * - `id` lets a device ignore a notice it already acted on (SNS retries, both regions publish,
 *   the notice is retained and arrives again after the move); `at` lets it ignore one older
 *   than the last it acted on.
 */
export {
  NOTICE_VERSION,
  parseNotice,
  type FailoverNotice,
  type NoticeParse,
  type NoticeType,
} from "../functions/health/notice.js";
