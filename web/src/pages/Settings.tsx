import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { client, fetchBody, type UpdateUser, type User } from '../api/client';
import { useAuth } from '../auth/auth';
import { ErrorMessages } from '../components/ErrorMessages';

function SettingsForm({ user }: { user: User }) {
  const auth = useAuth();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [image, setImage] = useState(user.image ?? '');
  const [username, setUsername] = useState(user.username);
  const [bio, setBio] = useState(user.bio ?? '');
  const [email, setEmail] = useState(user.email);
  const [password, setPassword] = useState('');

  const save = useMutation({
    mutationFn: async () => {
      const change: UpdateUser = { image, bio };
      if (username !== user.username) change.username = username;
      if (email !== user.email) change.email = email;
      if (password) change.password = password;
      return (await fetchBody(client.PUT('/api/user', { body: { user: change } }))).user;
    },
    onSuccess: (updated) => {
      auth.signIn({ ...updated, token: updated.token || user.token });
      void qc.invalidateQueries({ queryKey: ['profile'] });
      void qc.invalidateQueries({ queryKey: ['articles'] });
      navigate(`/profile/${encodeURIComponent(updated.username)}`);
    },
  });

  return (
    <>
      <ErrorMessages error={save.error} />
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <fieldset disabled={save.isPending}>
          <fieldset className="form-group">
            <label htmlFor="image">Profile picture (URL)</label>
            <input id="image" className="form-control" type="url" name="image" placeholder="URL of profile picture" value={image} onChange={(e) => setImage(e.target.value)} />
          </fieldset>
          <fieldset className="form-group">
            <label htmlFor="username">Username</label>
            <input id="username" className="form-control form-control-lg" type="text" name="username" placeholder="Your Name" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} />
          </fieldset>
          <fieldset className="form-group">
            <label htmlFor="bio">Bio</label>
            <textarea id="bio" className="form-control form-control-lg" rows={8} name="bio" placeholder="Short bio about you" value={bio} onChange={(e) => setBio(e.target.value)} />
          </fieldset>
          <fieldset className="form-group">
            <label htmlFor="email">Email</label>
            <input id="email" className="form-control form-control-lg" type="email" name="email" placeholder="Email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
          </fieldset>
          <fieldset className="form-group">
            <label htmlFor="password">New password</label>
            <input id="password" className="form-control form-control-lg" type="password" name="password" placeholder="New Password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          </fieldset>
          <button className="btn btn-lg btn-primary pull-xs-right" type="submit">
            {save.isPending ? 'Saving...' : 'Update Settings'}
          </button>
        </fieldset>
      </form>
    </>
  );
}

export default function Settings() {
  const auth = useAuth();
  const navigate = useNavigate();
  if (!auth.user) return null;
  return (
    <div className="settings-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-6 offset-md-3 col-xs-12">
            <h1 className="text-xs-center">Your Settings</h1>
            <SettingsForm user={auth.user} />
            <hr />
            <button
              type="button"
              className="btn btn-outline-danger"
              onClick={() => {
                auth.signOut();
                navigate('/');
              }}
            >
              Or click here to logout.
            </button>
          </div>
        </div>
      </div>
    </div>
  );
}
