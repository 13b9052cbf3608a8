import { ApiError } from '../api/errors';
import { declineMessage } from './Billing';

describe('declineMessage', () => {
  it('puts the provider reason in words, with its code', () => {
    const declined = ApiError.fromResponse(402, { errors: { payment: ['insufficient_funds'] } }, null);
    expect(declineMessage(declined)).toBe('Payment declined: the card has insufficient funds (insufficient_funds). Nothing was charged and your plan did not change.');
  });

  it('shows an unknown reason as it came', () => {
    const declined = ApiError.fromResponse(402, { errors: { payment: ['do_not_honor'] } }, null);
    expect(declineMessage(declined)).toContain('do_not_honor (do_not_honor)');
  });

  it('is nothing for other failures', () => {
    expect(declineMessage(ApiError.fromResponse(422, { errors: { card: ['number is invalid'] } }, null))).toBeNull();
    expect(declineMessage(null)).toBeNull();
  });
});
