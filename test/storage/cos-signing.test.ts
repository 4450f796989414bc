/**
 * COS request signing against known vectors: the worked examples of Tencent's "Request Signature"
 * documentation, https://cloud.tencent.com/document/product/436/7778 (English:
 * https://www.tencentcloud.com/document/product/436/7778), "Use Cases" section: APPID 1250000000,
 * SecretId AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q, SecretKey BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz.
 *
 * 1. `cosSign` (test/helpers/s3rver.ts, written from that page, not from the SDK) reproduces the
 *    published intermediate values and signatures.
 * 2. The SDK's own `COS.getAuthorization` produces the same Authorization for the same requests.
 * The same `cosSign` verifies every request the SDK sends in cos.test.ts.
 */
import COS from 'cos-nodejs-sdk-v5';
import { describe, expect, it } from 'vitest';
import { cosSign, cosUrlEncode } from '../helpers/s3rver.js';

describe('COS request signing (known vectors)', () => {
  const secretId = 'AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q';
  const secretKey = 'BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz';
  const host = 'examplebucket-1250000000.cos.ap-beijing.myqcloud.com';
  const put = {
    keyTime: '1557989151;1557996351',
    method: 'PUT',
    key: 'exampleobject(腾讯云)',
    query: {},
    headers: {
      'Content-Length': '13',
      'Content-MD5': 'mQ/fVh815F3k6TAUm8m0eg==',
      'Content-Type': 'text/plain',
      Date: 'Thu, 16 May 2019 06:45:51 GMT',
      Host: host,
      'x-cos-acl': 'private',
      'x-cos-grant-read': 'uin="100000000011"',
    } as Record<string, string>,
  };
  const get = {
    keyTime: '1557989753;1557996953',
    method: 'GET',
    key: 'exampleobject(腾讯云)',
    query: { 'response-content-type': 'application/octet-stream', 'response-cache-control': 'max-age=600' },
    headers: { Date: 'Thu, 16 May 2019 06:55:53 GMT', Host: host } as Record<string, string>,
  };

  it('our implementation reproduces the documented PUT example', () => {
    const result = cosSign({ secretKey, keyTime: put.keyTime, method: put.method, pathname: `/${put.key}`, query: put.query, headers: put.headers });
    expect(result.signKey).toBe('eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f');
    expect(result.headerList).toBe('content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read');
    expect(result.stringToSign).toBe('sha1\n1557989151;1557996351\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n');
    expect(result.signature).toBe('3b8851a11a569213c17ba8fa7dcf2abec6935172');
  });

  it('our implementation reproduces the documented GET example', () => {
    const result = cosSign({ secretKey, keyTime: get.keyTime, method: get.method, pathname: `/${get.key}`, query: get.query, headers: get.headers });
    expect(result.signKey).toBe('937914bf490e9e8c189836aad2052e4feeb35eaf');
    expect(result.urlParamList).toBe('response-cache-control;response-content-type');
    expect(result.stringToSign).toBe('sha1\n1557989753;1557996953\n54ecfe22f59d3514fdc764b87a32d8133ea611e6\n');
    expect(result.signature).toBe('01681b8c9d798a678e43b685a9f1bba0f6c0e012');
  });

  // The SDK signs only headers on its list (content-*, host, range, x-cos-*, ...), not Date, and
  // its requests send no Date header. So the SDK is checked on the documented requests without
  // Date, against the implementation above (which reproduces the documented values with it).
  for (const example of [put, get]) {
    it(`COS.getAuthorization matches it on the ${example.method} example (without Date)`, () => {
      const { Date: _date, ...headers } = example.headers;
      const auth = COS.getAuthorization({ SecretId: secretId, SecretKey: secretKey, Method: example.method as 'PUT' | 'GET', Key: example.key, Query: example.query, Headers: headers, KeyTime: example.keyTime });
      const expected = cosSign({ secretKey, keyTime: example.keyTime, method: example.method, pathname: `/${example.key}`, query: example.query, headers });
      expect(auth).toBe(
        `q-sign-algorithm=sha1&q-ak=${secretId}&q-sign-time=${example.keyTime}&q-key-time=${example.keyTime}` +
          `&q-header-list=${expected.headerList}&q-url-param-list=${expected.urlParamList}&q-signature=${expected.signature}`,
      );
      // With Date passed in, the SDK leaves it out of the signature rather than signing it.
      const withDate = COS.getAuthorization({ SecretId: secretId, SecretKey: secretKey, Method: example.method as 'PUT' | 'GET', Key: example.key, Query: example.query, Headers: example.headers, KeyTime: example.keyTime });
      expect(withDate).toBe(auth);
    });
  }

  it('encodes as the documented table says (also ! \' ( ) *, not ~)', () => {
    expect(cosUrlEncode("a b!'()*~/;:@&=+$,?#[]")).toBe('a%20b%21%27%28%29%2A~%2F%3B%3A%40%26%3D%2B%24%2C%3F%23%5B%5D');
    expect(cosUrlEncode('腾讯云')).toBe('%E8%85%BE%E8%AE%AF%E4%BA%91');
  });
});
