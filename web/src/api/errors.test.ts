import { ApiError, NETWORK_MESSAGE } from './errors';

describe('ApiError', () => {
  it('lists the API field errors as "field reason"', () => {
    const e = ApiError.fromResponse(422, { errors: { email: ['has already been taken'], password: ["can't be blank"] } }, null);
    expect(e.status).toBe(422);
    expect(e.messages).toEqual(['email has already been taken', "password can't be blank"]);
  });

  it('accepts a single reason given as a string', () => {
    expect(ApiError.fromResponse(400, { errors: { body: 'is missing' } }, null).messages).toEqual(['body is missing']);
  });

  it('says something useful when the body has no errors', () => {
    expect(ApiError.fromResponse(500, 'oops', null).messages).toEqual(['server failed on the server; try again in a moment']);
    expect(ApiError.fromResponse(403, {}, null).messages).toEqual(['request you are not allowed to do that']);
  });

  it('tells when to retry after a 429', () => {
    expect(ApiError.fromResponse(429, { errors: { rate: ['limited'] } }, '17').messages).toEqual(['Too many requests: try again in 17 s.']);
    expect(ApiError.fromResponse(429, {}, null).messages).toEqual(['Too many requests: try again in a moment.']);
  });

  it('words a network failure for people', () => {
    const e = ApiError.network();
    expect(e.status).toBe(0);
    expect(e.messages).toEqual([NETWORK_MESSAGE]);
    expect(NETWORK_MESSAGE).toContain('Unable to connect');
  });
});
