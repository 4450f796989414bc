// The public API reports (etc/web-record*.api.md), one per package entry point, checked by
// api-extractor: in CI a report that differs from the committed one fails the run; locally
// (no CI variable) the reports are updated so the change shows in the diff.
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = ['index', 'express', 'koa', 'redis', 'storage-cos', 'storage-s3', 'testing'];
const local = !process.env.CI;
const base = ExtractorConfig.loadFile(join(root, 'api-extractor.json'));
let failed = 0;
for (const entry of entries) {
  const configObject = {
    ...base,
    projectFolder: root,
    mainEntryPointFilePath: join(root, 'dist', `${entry}.d.ts`),
    apiReport: { ...base.apiReport, reportFileName: entry === 'index' ? 'web-record' : `web-record-${entry}` },
    // The API reference (docs/api) is generated from the main entry's model.
    docModel: { ...base.docModel, enabled: entry === 'index' },
  };
  const config = ExtractorConfig.prepare({ configObject, configObjectFullPath: join(root, 'api-extractor.json'), packageJsonFullPath: join(root, 'package.json') });
  const result = Extractor.invoke(config, { localBuild: local, showVerboseMessages: false, messageCallback: (m) => { if (m.logLevel === 'info' || m.logLevel === 'verbose') m.handled = true; } });
  if (!result.succeeded) {
    failed++;
    console.error(`api-report: ${entry}: ${result.apiReportChanged ? 'the API changed; run `npm test` locally and commit etc/' : `${result.errorCount} errors, ${result.warningCount} warnings`}`);
  }
}
if (failed) process.exit(1);
console.log(`api-report: ${entries.length} entry points ${local ? 'written to' : 'match'} etc/`);
