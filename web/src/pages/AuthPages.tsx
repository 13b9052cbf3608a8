import { useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link, useLocation, useNavigate, type Location } from 'react-router';
import { client, fetchBody, type User } from '../api/client';
import { useAuth } from '../auth/auth';
import { ErrorMessages } from '../components/ErrorMessages';
import { Field } from '../components/Field';

/** Where to go after signing in: the page that sent the user here, else home. */
function destination(location: Location): string {
  const from = (location.state as { from?: Location } | null)?.from;
  if (from && from.pathname !== '/login' && from.pathname !== '/register') {
    return `${from.pathname}${from.search}${from.hash}`;
  }
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function AuthForm({ mode }: { mode: 'login' | 'register' }) {
  const auth = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const submit = useMutation({
    mutationFn: async (): Promise<User> =>
      mode === 'login'
        ? (await fetchBody(client.POST('/api/users/login', { body: { user: { email, password } } }))).user
        : (await fetchBody(client.POST('/api/users', { body: { user: { username, email, password } } }))).user,
    onSuccess: (user) => {
      auth.signIn(user);
      navigate(destination(location), { replace: true });
    },
  });

  const login = mode === 'login';
  return (
    <div className="auth-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-6 offset-md-3 col-xs-12">
            <h1 className="text-xs-center">{login ? 'Sign in' : 'Sign up'}</h1>
            <p className="text-xs-center">
              {login ? <Link to="/register">Need an account?</Link> : <Link to="/login">Have an account?</Link>}
            </p>
            <ErrorMessages error={submit.error} />
            <form
              noValidate
              onSubmit={(e) => {
                e.preventDefault();
                submit.mutate();
              }}
            >
              {!login && <Field id="username" label="Username" hiddenLabel className="form-control form-control-lg" type="text" placeholder="Username" autoComplete="username" value={username} onChange={setUsername} />}
              <Field id="email" label="Email" hiddenLabel className="form-control form-control-lg" type="email" placeholder="Email" autoComplete="email" value={email} onChange={setEmail} />
              <Field id="password" label="Password" hiddenLabel className="form-control form-control-lg" type="password" placeholder="Password" autoComplete={login ? 'current-password' : 'new-password'} value={password} onChange={setPassword} />
              <button className="btn btn-lg btn-primary pull-xs-right" type="submit" disabled={submit.isPending}>
                {submit.isPending ? (login ? 'Signing in...' : 'Signing up...') : login ? 'Sign in' : 'Sign up'}
              </button>
            </form>
          </div>
        </div>
      </div>
    </div>
  );
}

export function Login() {
  return <AuthForm mode="login" />;
}

export function Register() {
  return <AuthForm mode="register" />;
}
