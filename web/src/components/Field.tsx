import type { InputHTMLAttributes } from 'react';

interface FieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value'> {
  id: string;
  label: string;
  /** The label is for screen readers only (the placeholder says the same on screen). */
  hiddenLabel?: boolean;
  value: string;
  onChange: (value: string) => void;
  /** A textarea of this many rows instead of a one-line input. */
  rows?: number;
}

/** One labelled form field in its `.form-group` (the names and placeholders are the e2e contract's). */
export function Field({ id, label, hiddenLabel = false, value, onChange, rows, className = 'form-control', name, placeholder, ...input }: FieldProps) {
  return (
    <fieldset className="form-group">
      <label className={hiddenLabel ? 'sr-only' : undefined} htmlFor={id}>
        {label}
      </label>
      {rows ? (
        <textarea id={id} name={name ?? id} className={className} rows={rows} placeholder={placeholder} value={value} onChange={(e) => onChange(e.target.value)} disabled={input.disabled} />
      ) : (
        <input id={id} name={name ?? id} className={className} placeholder={placeholder} value={value} onChange={(e) => onChange(e.target.value)} {...input} />
      )}
    </fieldset>
  );
}
