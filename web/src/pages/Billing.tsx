import { useEffect, useRef, useState } from 'react';
import { asApiError } from '../api/errors';
import { useCancelPlan, useChangePlan, useOrders, usePayments, usePlans, useSubscription, type PlanOffer, type Subscription } from '../api/techhub';
import { ErrorMessages, LoadError } from '../components/ErrorMessages';
import { Page, Skeleton } from '../components/Page';
import { formatDate } from '../lib/format';

/** The sandbox provider's test cards (no real money moves). */
export const TEST_CARDS: { number: string; outcome: string }[] = [
  { number: '4242 4242 4242 4242', outcome: 'succeeds' },
  { number: '5555 5555 5555 4444', outcome: 'succeeds' },
  { number: '4000 0000 0000 0002', outcome: 'declined: card_declined' },
  { number: '4000 0000 0000 9995', outcome: 'declined: insufficient_funds' },
  { number: '4000 0000 0000 0341', outcome: 'succeeds now, declined on renewal' },
];

const DECLINE_REASONS: Record<string, string> = {
  card_declined: 'the card was declined by its issuer',
  insufficient_funds: 'the card has insufficient funds',
  incorrect_cvc: 'the security code (CVC) is incorrect',
};

/** What a refused charge says, in words: "insufficient_funds" → "the card has insufficient funds". */
export function declineMessage(error: unknown): string | null {
  const e = asApiError(error);
  if (e.status !== 402) return null;
  const reason = e.errors.payment?.[0] ?? 'declined';
  return `Payment declined: ${DECLINE_REASONS[reason] ?? reason} (${reason}). Nothing was charged and your plan did not change.`;
}

/** "Unlimited drafts", "1 learning path", "20 learning paths". */
const limit = (n: number | null | undefined, one: string, many: string) => (n === null || n === undefined ? `Unlimited ${many}` : `${n} ${n === 1 ? one : many}`);

function PlanCard({ offer, current, cycle, onChoose }: { offer: PlanOffer; current: Subscription; cycle: 'monthly' | 'yearly'; onChoose: (plan: string) => void }) {
  // Paid plans come per cycle: pro monthly can still move to pro yearly.
  const isCurrent = current.plan === offer.plan && (offer.plan === 'free' || current.billingCycle === cycle);
  const price = cycle === 'monthly' ? offer.monthlyPrice : offer.yearlyPrice;
  return (
    <article className={`plan-card ${isCurrent ? 'current' : ''}`} aria-labelledby={`plan-${offer.plan}`}>
      <h3 id={`plan-${offer.plan}`} className="text-lg font-semibold capitalize">
        {offer.plan}
      </h3>
      <p className="plan-price">
        ${price}
        {price !== '0.00' && <span className="muted text-sm"> / {cycle === 'monthly' ? 'month' : 'year'}</span>}
      </p>
      <ul className="plan-features">
        <li>{limit(offer.entitlements.maxDrafts, 'draft', 'drafts')}</li>
        <li>{limit(offer.entitlements.maxLearningPaths, 'learning path', 'learning paths')}</li>
        <li>{offer.entitlements.analyticsHistoryDays == null ? 'All analytics history' : `${offer.entitlements.analyticsHistoryDays} days of analytics`}</li>
        <li>{limit(offer.entitlements.assessmentsPerMonth, 'assessment a month', 'assessments a month')}</li>
      </ul>
      {isCurrent ? (
        <p className="current-plan font-semibold">Your plan</p>
      ) : (
        <button type="button" className="btn btn-outline-primary" onClick={() => onChoose(offer.plan)}>
          {offer.plan === 'free' ? 'Switch to free' : `Choose ${offer.plan}`}
        </button>
      )}
    </article>
  );
}

function Checkout({ plan, cycle, subscription, onPaid, onClose }: { plan: string; cycle: 'monthly' | 'yearly'; subscription: Subscription; onPaid: () => void; onClose: () => void }) {
  const change = useChangePlan();
  const [number, setNumber] = useState('');
  const [expiry, setExpiry] = useState('12/30');
  const [cvc, setCvc] = useState('');
  const [useSaved, setUseSaved] = useState(subscription.hasPaymentMethod);
  const paid = plan !== 'free';
  const declined = declineMessage(change.error);
  // Opening the checkout puts the keyboard where the next step is.
  const cardInput = useRef<HTMLInputElement>(null);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    form.current?.scrollIntoView({ block: 'nearest' });
    cardInput.current?.focus();
  }, []);
  return (
    <form
      ref={form}
      className="card card-block checkout"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const [mm = '', yy = ''] = expiry.split('/').map((p) => p.trim());
        const card = paid && !useSaved ? { number: number.replace(/\s+/g, ''), expMonth: Number(mm), expYear: 2000 + Number(yy), cvc } : undefined;
        change.mutate({ plan, billingCycle: cycle, ...(card ? { card } : {}) }, { onSuccess: onPaid });
      }}
    >
      <h2 className="section-title">
        {paid ? `Upgrade to ${plan}` : 'Switch to free'} ({cycle})
      </h2>
      {declined ? (
        <p className="declined-message error-messages" role="alert">
          {declined}
        </p>
      ) : (
        <ErrorMessages error={change.error} />
      )}
      {paid && (
        <fieldset disabled={change.isPending} className="form-grid">
          {subscription.hasPaymentMethod && (
            <label className="form-grid-wide">
              <input type="checkbox" checked={useSaved} onChange={(e) => setUseSaved(e.target.checked)} /> Use the saved card
            </label>
          )}
          {!useSaved && (
            <>
              <label className="form-grid-wide">
                Card number
                <input className="form-control" name="cardNumber" ref={cardInput} inputMode="numeric" autoComplete="cc-number" value={number} onChange={(e) => setNumber(e.target.value)} placeholder="4242 4242 4242 4242" />
              </label>
              <label>
                Expiry (MM/YY)
                <input className="form-control" name="expiry" autoComplete="cc-exp" value={expiry} onChange={(e) => setExpiry(e.target.value)} />
              </label>
              <label>
                CVC
                <input className="form-control" name="cvc" inputMode="numeric" autoComplete="cc-csc" value={cvc} onChange={(e) => setCvc(e.target.value)} placeholder="123" />
              </label>
            </>
          )}
        </fieldset>
      )}
      <div className="mt-3 flex flex-wrap gap-2">
        <button type="submit" className="btn btn-primary" disabled={change.isPending}>
          {change.isPending ? 'Processing…' : paid ? 'Pay and upgrade' : 'Confirm'}
        </button>
        <button type="button" className="btn btn-outline-secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
      {paid && (
        <details className="test-cards mt-3" open>
          <summary>Sandbox test cards (no real money moves)</summary>
          <ul>
            {TEST_CARDS.map((c) => (
              <li key={c.number}>
                <code>{c.number}</code> — {c.outcome}
              </li>
            ))}
            <li>Any of them with CVC 000 — declined: incorrect_cvc</li>
          </ul>
        </details>
      )}
    </form>
  );
}

function History() {
  const payments = usePayments();
  const orders = useOrders();
  return (
    <div className="chart-grid">
      <section aria-labelledby="payments-heading">
        <h2 id="payments-heading" className="section-title">
          Payments
        </h2>
        {payments.isPending ? (
          <Skeleton lines={3} label="Loading payments" />
        ) : payments.isError ? (
          <LoadError error={payments.error} retry={() => void payments.refetch()} what="payments" />
        ) : payments.data.length === 0 ? (
          <p className="muted">No payments yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="data-table payments-table">
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Amount</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {payments.data.map((p) => (
                  <tr key={p.id}>
                    <td>{formatDate(p.createdAt)}</td>
                    <td>
                      ${p.amount} {p.currency}
                    </td>
                    <td>
                      {p.status}
                      {p.failureReason && <span className="muted"> ({p.failureReason})</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="orders-heading">
        <h2 id="orders-heading" className="section-title">
          Orders
        </h2>
        {orders.isPending ? (
          <Skeleton lines={3} label="Loading orders" />
        ) : orders.isError ? (
          <LoadError error={orders.error} retry={() => void orders.refetch()} what="orders" />
        ) : orders.data.length === 0 ? (
          <p className="muted">No orders yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="data-table orders-table">
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">What</th>
                  <th scope="col">Total</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {orders.data.map((o) => (
                  <tr key={o.id}>
                    <td>{o.orderNumber}</td>
                    <td>{o.description}</td>
                    <td>${o.total}</td>
                    <td>{o.status}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

export default function Billing() {
  const subscription = useSubscription();
  const plans = usePlans();
  const cancel = useCancelPlan();
  const [cycle, setCycle] = useState<'monthly' | 'yearly'>('monthly');
  const [choice, setChoice] = useState<string | null>(null);
  const [upgraded, setUpgraded] = useState(false);
  const [confirming, setConfirming] = useState(false);
  if (subscription.isPending || plans.isPending) {
    return (
      <Page title="Plan and billing" className="billing-page">
        <Skeleton lines={8} label="Loading your plan" />
      </Page>
    );
  }
  if (subscription.isError || plans.isError) {
    const error = subscription.error ?? plans.error;
    return (
      <Page title="Plan and billing" className="billing-page">
        <LoadError error={error} retry={() => void Promise.all([subscription.refetch(), plans.refetch()])} what="your plan" />
      </Page>
    );
  }
  const sub = subscription.data;
  return (
    <Page title="Plan and billing" className="billing-page" intro="Payments go through the sandbox provider: use the test cards listed below.">
      <section aria-labelledby="current-heading" className="card card-block current-subscription">
        <h2 id="current-heading" className="section-title">
          Current plan: <span className="capitalize" data-testid="current-plan">{sub.plan}</span>
        </h2>
        <p className="muted">
          {sub.plan === 'free'
            ? 'Free forever.'
            : `$${sub.price} ${sub.currency} ${sub.billingCycle}, ${sub.status}.` +
              (sub.currentPeriodEnd ? ` ${sub.cancelAtPeriodEnd ? 'Ends' : 'Renews'} on ${formatDate(sub.currentPeriodEnd)}.` : '')}
        </p>
        {upgraded && (
          <p className="success-message" role="status">
            Done: you are on the {sub.plan} plan.
          </p>
        )}
        <ErrorMessages error={cancel.error} />
        {sub.plan !== 'free' && !sub.cancelAtPeriodEnd && !confirming && (
          <button type="button" className="btn btn-sm btn-outline-danger mt-2" onClick={() => setConfirming(true)}>
            Cancel subscription
          </button>
        )}
        {confirming && !sub.cancelAtPeriodEnd && (
          <div className="mt-2 flex flex-wrap items-center gap-2" role="group" aria-label="Confirm cancellation">
            <span className="text-sm">It will not renew; you keep {sub.plan} until the end of this cycle.</span>
            <button
              type="button"
              className="btn btn-sm btn-outline-danger"
              onClick={() => cancel.mutate(undefined, { onSettled: () => setConfirming(false) })}
              disabled={cancel.isPending}
            >
              Yes, cancel
            </button>
            <button type="button" className="btn btn-sm btn-outline-secondary" onClick={() => setConfirming(false)}>
              Keep my plan
            </button>
          </div>
        )}
        {sub.cancelAtPeriodEnd && <p className="text-sm">Cancelled: it will not renew.</p>}
      </section>
      <div className="section-head mt-6">
        <h2 className="section-title">Plans</h2>
        <fieldset className="cycle-toggle">
          <legend className="sr-only">Billing cycle</legend>
          {(['monthly', 'yearly'] as const).map((c) => (
            <label key={c} className={`btn btn-sm ${cycle === c ? 'btn-primary' : 'btn-outline-secondary'}`}>
              <input type="radio" className="sr-only" name="cycle" value={c} checked={cycle === c} onChange={() => setCycle(c)} />
              {c === 'monthly' ? 'Monthly' : 'Yearly (2 months free)'}
            </label>
          ))}
        </fieldset>
      </div>
      <div className="plan-grid">
        {plans.data.map((offer) => (
          <PlanCard
            key={offer.plan}
            offer={offer}
            current={sub}
            cycle={cycle}
            onChoose={(plan) => {
              setUpgraded(false);
              setChoice(plan);
            }}
          />
        ))}
      </div>
      {choice && (
        <Checkout
          key={`${choice}-${cycle}`}
          plan={choice}
          cycle={cycle}
          subscription={sub}
          onPaid={() => {
            setUpgraded(true);
            setChoice(null);
          }}
          onClose={() => setChoice(null)}
        />
      )}
      <History />
    </Page>
  );
}
